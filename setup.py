"""Packaging for mmicconv."""

import os
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
#: Repository folders shipped inside the package as ``mmicconv/.mim/<name>`` so
#: that installed (non-editable) users have the configs and the pattern zoo's
#: manifest/toy patterns, as OpenMMLab packages do for ``mim``.
MIM_FOLDERS = ('configs', 'pattern_zoo')


class BuildWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FOLDERS` into ``mmicconv/.mim``."""

    def run(self) -> None:
        super().run()
        for name in MIM_FOLDERS:
            source = HERE / name
            if source.is_dir():
                target = Path(self.build_lib) / 'mmicconv' / '.mim' / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=shutil.ignore_patterns('__pycache__'))


def extension_build():
    """``(ext_modules, build_ext)`` for the optional kernels of ``mmicconv/ops/csrc``.

    The kernels need torch at build time (``pip install --no-build-isolation``).
    A failed or impossible build only warns: mmicconv then runs on its
    pure-PyTorch strategies. ``MMICCONV_NO_EXT=1`` skips the build;
    ``MMICCONV_REQUIRE_EXT=1`` turns a failure into an error.
    """
    if os.environ.get('MMICCONV_NO_EXT', '') not in ('', '0'):
        return [], {}
    require = os.environ.get('MMICCONV_REQUIRE_EXT', '') not in ('', '0')
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError as error:
        if require:
            raise
        print(f'mmicconv: torch is not importable at build time ({error}); building without '
              'the compiled kernels (use pip install --no-build-isolation)', file=sys.stderr)
        return [], {}

    class OptionalBuildExtension(BuildExtension):
        def build_extension(self, ext) -> None:
            try:
                super().build_extension(ext)
            except Exception as error:  # noqa: BLE001 - any compiler failure
                if require:
                    raise
                print(f'mmicconv: WARNING: building {ext.name} failed ({error}); the pure-PyTorch '
                      'strategies will be used', file=sys.stderr)

    sources = sorted(str(p.relative_to(HERE)) for p in (HERE / 'mmicconv' / 'ops' / 'csrc').glob('*.cpp'))
    ext = CppExtension('mmicconv._C', sources, extra_compile_args=['-O3'])
    return [ext], {'build_ext': OptionalBuildExtension.with_options(use_ninja=True)}


def read_version() -> str:
    """Read ``__version__`` from mmicconv/version.py without importing it."""
    namespace: dict = {}
    exec((HERE / 'mmicconv' / 'version.py').read_text(), namespace)
    return namespace['__version__']


EXT_MODULES, EXT_CMDCLASS = extension_build()

setup(
    name='mmicconv',
    version=read_version(),
    description='Inception Convolution (IC-Conv) for MMDetection 3.x and MMPose 1.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mmicconv', 'mmicconv.*']),
    ext_modules=EXT_MODULES,
    cmdclass={'build_py': BuildWithMim, **EXT_CMDCLASS},
    install_requires=[
        'torch>=1.13',
        'mmengine>=0.10,<1.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet>=3.0,<3.4'],
        'pose': ['mmpose>=1.0,<1.4'],
        'tests': ['pytest', 'ruff', 'onnx', 'onnxruntime'],
    },
    zip_safe=False,
)
