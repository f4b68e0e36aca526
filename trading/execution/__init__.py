"""The fill, slippage and commission engine that the paper broker and the backtest share unchanged."""
