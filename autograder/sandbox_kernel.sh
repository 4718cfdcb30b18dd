#!/bin/sh
# Start a Jupyter kernel for grading (autograder/sandbox.py writes the kernel spec that runs this).
#
#   sandbox_kernel.sh bwrap STAGE UID SLOT CGROUPS CONNECTION_FILE COMMAND... [kernel args...]
#
# The allow-list sandbox: this part runs as root on the host. It makes the slot's private folder
# STAGE/.kernel-SLOT afresh (connection file and sockets; only the kernel's user, UID, may enter),
# kills whatever is left in the slot's cgroups (CGROUPS: their folders, colon-separated, or -),
# moves itself into them (everything started from here on is counted there) and runs COMMAND:
# bubblewrap, then the limits and the kernel, as autograder/sandbox.py built it.
#
#   sandbox_kernel.sh unshare STAGE HIDE_LIST MEMORY_BYTES SECONDS NPROC UID SLOT CONNECTION_FILE [kernel args...]
#
# The deny-list fallback, without bubblewrap, already inside new mount, network and PID
# namespaces (`unshare --mount --net --pid --fork --kill-child`): STAGE is the only grading
# folder the kernel sees; every path listed in HIDE_LIST (one per line) is covered by an empty
# tmpfs (folders) or /dev/null (files). UID 0 means no separate user is possible: the kernel
# keeps root's id but loses every capability.
set -eu
mode=$1
shift

if [ "$mode" = bwrap ]; then
  stage=$1 uid=$2 slot=$3 cgroups=$4 connection=$5
  shift 5
  private="$stage/.kernel-$slot"
  rm -rf "$private"
  mkdir -m 700 "$private"
  cp "$connection" "$private/connection.json"
  if [ "$uid" != 0 ]; then
    chown -R "$uid:$uid" "$private"
  fi
  if [ "$cgroups" != - ]; then
    old_ifs=$IFS
    IFS=:
    for group in $cgroups; do
      # a kernel that used the slot before is gone: anything of it still counted here goes too
      for pid in $(cat "$group/cgroup.procs"); do kill -KILL "$pid" 2>/dev/null || true; done
      # and wait until they are gone: dying, they still count against the slot user's process limit
      tries=0
      while [ -n "$(cat "$group/cgroup.procs")" ] && [ $tries -lt 500 ]; do
        sleep 0.01
        tries=$((tries + 1))
      done
      echo $$ > "$group/cgroup.procs"
    done
    IFS=$old_ifs
  fi
  umask 022  # the folders bubblewrap makes for the view must be enterable by the kernel's user
  exec "$@"
fi

stage=$1 hide_list=$2 memory=$3 seconds=$4 nproc=$5 uid=$6 slot=$7 connection=$8
shift 8

ip link set lo up  # the namespace's own loopback: a notebook can serve and fetch on 127.0.0.1

# The slot's folder is made afresh: nothing of the kernel that used the slot before survives.
private="$stage/.kernel-$slot"
rm -rf "$private"
mkdir -m 700 "$private" "$private/home"
# The connection file is root's (mode 600) and sits in a folder about to be hidden: the
# kernel, which runs as an unprivileged user, gets its own copy first.
cp "$connection" "$private/connection.json"
if [ "$uid" != 0 ]; then
  chown -R "$uid:$uid" "$private"
  as_user="--reuid=$uid --regid=$uid --clear-groups"
else
  as_user="--bounding-set=-all --no-new-privs"
fi

# Keep the stage reachable: bind it aside, hide everything, then move it back in place.
aside=$(mktemp -d /tmp/proximal-stage.XXXXXX)
mount --bind "$stage" "$aside"
while IFS= read -r path; do
  if [ -d "$path" ]; then
    mount -t tmpfs -o size=64k,mode=755 proximal-hidden "$path"
  elif [ -e "$path" ]; then
    mount --bind /dev/null "$path"
  fi
done < "$hide_list"
mkdir -p "$stage" 2>/dev/null || true
mount --move "$aside" "$stage"
rmdir "$aside"

# Re-enter the working folder through the new mounts, so `..` cannot climb into hidden ones.
cd "$PWD"
home="$private/home"

# Not exec: this shell stays PID 1 of the namespace, so the kernel's parent is never PID 1
# (ipykernel takes a parent of PID 1 to mean "my client is gone" and quits).
# A clean environment: nothing tells the notebook it is being graded, or where the grader lives.
# umask 077: what the kernel creates in its slot folder stays its own.
umask 077
env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 MPLBACKEND=Agg OMP_NUM_THREADS=1 HOME="$home" IPYTHONDIR="$home/ipython" \
  MPLCONFIGDIR="$home/mpl" JUPYTER_RUNTIME_DIR="$home/runtime" \
  timeout --signal=KILL "$seconds" \
  prlimit --as="$memory" --nproc="$nproc" --fsize=$((256 * 1024 * 1024)) -- \
  setpriv $as_user --inh-caps=-all -- \
  "$PROXIMAL_KERNEL_PYTHON" -m autograder.kernel -f "$private/connection.json" "$@"
