"""What mirrors and feed readers read besides the simple API: PyPI's XML-RPC and RSS feeds."""
