// Keeps a library non-empty while its generated sources are absent.
