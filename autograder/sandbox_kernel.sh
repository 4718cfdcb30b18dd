#!/bin/sh
# Start a Jupyter kernel for grading, already inside new mount, network and PID namespaces
# (autograder/sandbox.py runs this under `unshare --mount --net --pid --fork --kill-child`).
#
#   sandbox_kernel.sh KERNEL_DIR HIDE_LIST MEMORY_BYTES SECONDS NPROC UID CONNECTION_FILE [kernel args...]
#
# KERNEL_DIR is the only grading folder the kernel sees; every path listed in HIDE_LIST (one per
# line) is covered by an empty tmpfs (folders) or /dev/null (files). UID is a user id of this
# kernel's own: the process limit counts per user, so kernels must not share one. UID 0 means
# no separate user is possible: the kernel keeps root's id but loses every capability.
set -eu
kernel_dir=$1 hide_list=$2 memory=$3 seconds=$4 nproc=$5 uid=$6 connection=$7
shift 7

ip link set lo up  # the namespace's own loopback: a notebook can serve and fetch on 127.0.0.1

# The connection file is root's (mode 600) and may sit in a folder about to be hidden: the
# kernel, which runs as an unprivileged user, gets its own copy first.
cp "$connection" "$kernel_dir/.connection.json"
mkdir -p "$kernel_dir/.home"
if [ "$uid" != 0 ]; then
  chown -R "$uid:$uid" "$kernel_dir"
  as_user="--reuid=$uid --regid=$uid --clear-groups"
else
  as_user="--bounding-set=-all --no-new-privs"
fi

# Keep the kernel's folder reachable: bind it aside, hide everything, then move it back in place.
stage=$(mktemp -d /tmp/proximal-stage.XXXXXX)
mount --bind "$kernel_dir" "$stage"
while IFS= read -r path; do
  if [ -d "$path" ]; then
    mount -t tmpfs -o size=64k,mode=755 proximal-hidden "$path"
  elif [ -e "$path" ]; then
    mount --bind /dev/null "$path"
  fi
done < "$hide_list"
mkdir -p "$kernel_dir" 2>/dev/null || true
mount --move "$stage" "$kernel_dir"
rmdir "$stage"

# Re-enter the working folder through the new mounts, so `..` cannot climb into hidden ones.
cd "$PWD"
home="$kernel_dir/.home"

# Not exec: this shell stays PID 1 of the namespace, so the kernel's parent is never PID 1
# (ipykernel takes a parent of PID 1 to mean "my client is gone" and quits).
# A clean environment: nothing tells the notebook it is being graded, or where the grader lives.
env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 MPLBACKEND=Agg OMP_NUM_THREADS=1 HOME="$home" IPYTHONDIR="$home/ipython" \
  MPLCONFIGDIR="$home/mpl" JUPYTER_RUNTIME_DIR="$home/runtime" \
  timeout --signal=KILL "$seconds" \
  prlimit --as="$memory" --nproc="$nproc" --fsize=$((256 * 1024 * 1024)) -- \
  setpriv $as_user --inh-caps=-all -- \
  "$PROXIMAL_KERNEL_PYTHON" -m autograder.kernel -f "$kernel_dir/.connection.json" "$@"
