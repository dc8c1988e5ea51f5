"""Operations: metrics, status routes and page, verification view, logging setup and redaction."""
