"""Developer tools for nnlab: gradient checking and (elsewhere) model summaries."""
