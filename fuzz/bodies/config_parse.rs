// The body of the `config_parse` fuzz target, shared with the stable corpus
// replay test: any text as a config file. A config is accepted exactly when
// no problem is an error, and a rejected one always says why.
|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let report = echostream::config::check(text);
        assert_eq!(report.config.is_some(), !report.has_errors());
        if report.config.is_none() {
            assert!(!report.problems.is_empty(), "a rejected config names a problem");
        }
    }
}
