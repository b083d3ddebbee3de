"""MLE-bench style competitions: the folder layout, the metrics, the medals and the grading.

A competition folder in openai/mle-bench's prepared layout (`config.yaml`,
`description.md`, `prepared/public/`, `prepared/private/`, an optional `grade.py`,
`leaderboard.csv`) is read by `competition.load_competition`; a submission is checked
for format (`grading.validate_submission`, public data only) and graded against the
private answers (`grading.grade_submission`), and the score is placed on the
leaderboard's medal table (`medals`).
"""
