//! Nothing: the site is the documentation of the dependencies.
