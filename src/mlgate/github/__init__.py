"""Publishing a scan to GitHub: PR comment, job summary, outputs, annotations, SARIF upload."""

from mlgate.github.publish import PublishReport, publish

__all__ = ["PublishReport", "publish"]
