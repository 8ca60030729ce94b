"""deadline-watch: the time limit of every open obligation, warnings, breaches, the ladder."""
