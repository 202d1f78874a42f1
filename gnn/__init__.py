"""gnn — graph neural network cell-type classifiers over connectomes (torch-geometric)."""
