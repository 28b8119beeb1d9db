"""Packaging for mmicconv."""

import shutil
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


def read_version() -> str:
    """Read ``__version__`` from mmicconv/version.py without importing it."""
    namespace: dict = {}
    exec((HERE / 'mmicconv' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='mmicconv',
    version=read_version(),
    description='Inception Convolution (IC-Conv) for MMDetection 3.x and MMPose 1.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mmicconv', 'mmicconv.*']),
    cmdclass={'build_py': BuildWithMim},
    install_requires=[
        'torch>=1.13',
        'mmengine>=0.10,<1.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet>=3.0,<3.4'],
        'pose': ['mmpose>=1.0,<1.4'],
        'tests': ['pytest', 'ruff'],
    },
    zip_safe=False,
)
