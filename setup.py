"""Packaging for mmicconv."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


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
    include_package_data=True,
    package_data={'mmicconv': ['.mim/configs/**/*', '.mim/pattern_zoo/**/*']},
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
