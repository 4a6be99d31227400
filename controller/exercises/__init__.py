"""Training exercises: the format, the shipped catalogue, checks on the live lab, classrooms."""
