"""The Hạ Long sample data set: a seeded generator, its loader and the journal replay."""
