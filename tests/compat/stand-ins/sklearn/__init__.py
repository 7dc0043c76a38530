"""Stand-in so that W&B's sweeps library imports without scikit-learn: only
its bayes search uses sklearn, and the conformance cases never run it."""
