"""Instruments for looking inside: gradient checks (gradcheck), backend comparison (compare), per-op timing
(profile), kernel sources in call order (kernel_source), a notice while Numba or g++ compiles kernels (compile_notice),
benchmarks (bench) and the GPU run kit (gpu_check)."""
