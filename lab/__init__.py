"""gwlab: the lab model, its rendering and its runtimes."""
