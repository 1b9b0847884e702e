"""Publishing: approved films, their files and the static launch site, to S3-compatible object storage."""
