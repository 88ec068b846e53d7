"""Research on history: the backtest driver, one backtest as a value (what `backtest` and every run of a
`sweep` execute), and sweeps on Ray with their plan. Above runtime: it wires the same engine a session
runs, on a simulated clock."""
