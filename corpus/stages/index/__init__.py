"""The index stage (``corpus index``) and the search command (``corpus search``)."""
