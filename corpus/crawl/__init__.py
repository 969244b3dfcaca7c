"""Reading crawls: WARC records, byte-range splitting of WARC files, input resolution
(paths, globs, URLs, Common Crawl path lists)."""
