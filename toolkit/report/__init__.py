"""A report beside every submission: ROC curves, score histograms, the metrics, the run's provenance.

``mia submit`` writes ``report.html`` (self-contained: figures embedded as PNG data URIs) and the
PNGs beside the zip or CSV; ``mia report <run folder>`` draws them again from the run folder's
``report.npz``. ``data`` holds what a report is drawn from, ``figures`` draws its PNGs, ``build``
writes them and the page, and each kind's collector (``mico``, ``tml``) gathers a submission's scores.
"""

from toolkit.report.build import REPORT_DATA, REPORT_HTML, figure_names, rebuild, render, write_report
from toolkit.report.data import ReportData, load_report_data

__all__ = [
    "REPORT_DATA",
    "REPORT_HTML",
    "ReportData",
    "load_report_data",
    "figure_names",
    "render",
    "write_report",
    "rebuild",
]
