"""The nnlab shell and the `.nn` language (the interactive shell arrives with its own issue)."""
