"""OWS exceptions: every WFS error becomes an ExceptionReport with an exceptionCode and locator."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

#: HTTP status per exceptionCode (OWS Common 2.0 table 28, WFS 2.0 (OGC 09-025r2) table 3).
STATUS = {
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "VersionNegotiationFailed": 400,
    "InvalidUpdateSequence": 400,
    "OptionNotSupported": 501,
    "NoApplicableCode": 500,
    "OperationNotSupported": 501,
    "OperationParsingFailed": 400,
    "OperationProcessingFailed": 403,
    "ResponseCacheExpired": 403,
    "NotFound": 404,
    "CannotLockAllFeatures": 400,
}


class OWSException(Exception):
    """An error to answer with an OWS ExceptionReport."""

    def __init__(self, code: str, message: str, locator: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.locator = locator
        self.status = status or STATUS.get(code, 400)


def missing(name: str) -> OWSException:
    return OWSException("MissingParameterValue", f"parameter {name} is required", name.lower())


def invalid(name: str, message: str) -> OWSException:
    return OWSException("InvalidParameterValue", message, name.lower())


def report(exc: OWSException, version: str = "2.0.0") -> tuple[str, str]:
    """(XML body, content type) of the ExceptionReport in the dialect of `version`."""
    locator = f" locator={quoteattr(exc.locator)}" if exc.locator else ""
    msg = escape(exc.message)
    if version.startswith("1.0"):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ServiceExceptionReport version="1.2.0" xmlns="http://www.opengis.net/ogc" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.opengis.net/ogc http://schemas.opengis.net/wfs/1.0.0/OGC-exception.xsd">'
            f'<ServiceException code="{exc.code}"{locator}>{msg}</ServiceException></ServiceExceptionReport>'
        )
        return body, "application/vnd.ogc.se_xml; charset=UTF-8"
    if version.startswith("1.1"):
        ns, ver, loc = "http://www.opengis.net/ows", "1.1.0", "http://schemas.opengis.net/ows/1.0.0/owsExceptionReport.xsd"
        ver = "1.0.0"
    else:
        ns, ver, loc = "http://www.opengis.net/ows/1.1", "2.0.0", "http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd"
    lang = ' xml:lang="en"' if ver == "2.0.0" else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ows:ExceptionReport xmlns:ows="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'version="{ver}"{lang} xsi:schemaLocation="{ns} {loc}">'
        f'<ows:Exception exceptionCode="{exc.code}"{locator}><ows:ExceptionText>{msg}</ows:ExceptionText>'
        "</ows:Exception></ows:ExceptionReport>"
    )
    return body, "application/xml; charset=UTF-8"
