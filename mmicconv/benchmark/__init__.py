"""The IC conv benchmark library behind ``tools/benchmark_icconv.py``.

Modules (imported on demand; this package imports none of them):

* :mod:`.cases`: what is timed: the ResNet-50 ``conv2`` shapes (from
  :data:`mmicconv.models.arch.ARCHS`), plain / IC backbones, the pattern files;
* :mod:`.timing`: one step per case, CUDA-graph capture, interleaved timing;
* :mod:`.levels`: the ``layer`` and ``backbone`` levels and the profiler tables;
* :mod:`.oracle`: the GEMM-only strategy ``gemm-oracle`` (registers itself on import);
* :mod:`.memory`: peak memory of a training step, in a fresh subprocess;
* :mod:`.report`: machine and load report, progress lines, the markdown tables.
"""
