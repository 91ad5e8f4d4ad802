"""Instruments for looking inside: gradient checks (gradcheck), backend comparison (compare), per-op timing
(profile), kernel sources (kernel_source), benchmarks (bench) and the GPU run kit (gpu_check)."""
