"""The stock ranker: its training data, model and honest out-of-sample evaluation."""
