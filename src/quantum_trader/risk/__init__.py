"""Risk: sizing from planned loss and the rules that may refuse a signal."""
