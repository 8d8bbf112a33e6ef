"""On-disk datasets shared by behaviour cloning, dynamics pretraining and residual training."""
