"""The stats stage: counts over every stage's output (``stage.py``) and the HTML report
drawn from them (``report.py``)."""
