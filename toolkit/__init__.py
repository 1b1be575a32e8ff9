"""mia-toolkit: membership-inference challenges from the organisers' files to a submission.

Library first: every CLI command (``toolkit.cli``) is a thin layer over these modules.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
