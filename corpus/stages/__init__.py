"""The corpus stages, one module or folder per CLI verb, named after it."""
