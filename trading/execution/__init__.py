"""The fill, slippage and commission engine that the paper venue and the backtest share unchanged."""
