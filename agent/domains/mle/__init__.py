"""MLE-bench style competitions: the folder layout, the metrics, the medals, grading and runs.

A competition folder in openai/mle-bench's prepared layout (`config.yaml`,
`description.md`, `prepared/public/`, `prepared/private/`, an optional `grade.py`,
`leaderboard.csv`) is read by `competition.load_competition`; a submission is checked
for format (`grading.validate_submission`, public data only) and graded against the
private answers (`grading.grade_submission`), and the score is placed on the
leaderboard's medal table (`medals`).

`strop mle run` turns a competition into a two-stage task (`workfolder`: a holdout of
train for selection, a self-contained trusted `scorer`, a scikit-learn `solution` the
offline proposer tunes), drives an ordinary strop run over it (`runner`), and leaves a
`report.json` that `summary` adds up over many runs.
"""
