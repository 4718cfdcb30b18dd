"""The instructor's side: what the class got stuck on, after grading."""
