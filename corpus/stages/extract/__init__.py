"""The extract stage: WARC records to documents (``stage.py``), the HTML extractors it
uses (``extractors.py``), the changes that make trafilatura's lxml work cheaper with the same
output (``speedups.py``), the language prescreen of the cascade (``prescreen.py``) and its
accuracy scoring against the sample's truth (``score.py``)."""
