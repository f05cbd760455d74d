"""feedhub's benchmark suite: feedhub measured against peers in the same run."""
