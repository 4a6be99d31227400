"""Runtimes that bring a resolved topology to life. `netns` (the default) needs no container engine."""
