import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

# Ranges that the CPU build torch==2.13.0 satisfies: install it first (see README), or a bare
# `torch` requirement pulls a multi-GB CUDA build.
setup(
    name="inktrace",
    version=re.search(
        r'__version__ = "([^"]+)"', (HERE / "inktrace" / "version.py").read_text()
    ).group(1),
    description="Train and use InkTrace, a network that traces ink into vector strokes",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["inktrace", "inktrace.*"]),
    py_modules=["train_lib"],
    # the shipped model (about 2 MB) and the packaged configs (configs/ links to them in a clone)
    # and its ONNX export (the same weights), which traces where PyTorch is not installed
    package_data={"inktrace.pretrained": ["*.ckpt", "*.onnx"], "inktrace": ["configs/*.yaml"]},
    # What tracing needs. PyTorch (training, .ckpt models, export) is the train extra: an install
    # without it traces with ONNX models (the runtime extra) and says that training needs torch.
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6.0",
        "tqdm>=4.64",
        "pillow>=9.0",
        "scipy>=1.10",  # k-d trees of the tracer (inktrace.vectorize) at page scale
    ],
    extras_require={
        # the tests exercise every optional part, so CI installs them all
        "dev": [
            "torch>=2.1,<3",
            "tensorboard>=2.14",
            "pytest>=7.0",
            "ruff==0.17.6",
            "mypy==2.4.1",  # the type check of .ci/run (settings in pyproject.toml)
            "hypothesis>=6.0",
            "kanjivg",
            "scikit-image>=0.21",
            "matplotlib>=3.5",
            "nbclient>=0.7",
            "ipykernel>=6",
            "nbformat>=5",
            "onnx>=1.15",
            "onnxruntime>=1.17",
            "build>=1.0",  # tests/test_wheel.py builds the wheel and the sdist
        ],
        # training, PyTorch checkpoints and export: install torch==2.13.0 (CPU build) first
        "train": ["torch>=2.1,<3", "tensorboard>=2.14"],
        # tracing with an exported .onnx model, no PyTorch: numpy, scipy, Pillow, onnxruntime
        "runtime": ["onnxruntime>=1.17"],
        "kanjivg": ["kanjivg"],  # real stroke geometry: about 11,000 centreline SVGs
        "eval": ["scikit-image>=0.21"],  # the classical baseline of `inktrace evaluate`
        "bench": ["lightning>=2.0"],  # benchmarks/bench_trainer.py's comparison only
        "plot": ["matplotlib>=3.5"],  # inktrace plot
        # inktrace export OUT.onnx, and inktrace trace --checkpoint OUT.onnx (onnxruntime)
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        # examples/quickstart.ipynb and its test
        "notebook": ["nbclient>=0.7", "ipykernel>=6", "nbformat>=5", "matplotlib>=3.5"],
    },
    entry_points={"console_scripts": ["inktrace=inktrace.cli.main:main"]},
)
