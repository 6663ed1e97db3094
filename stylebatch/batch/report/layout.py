"""The report's file names, sizes and caps. Other modules read the caps through this module
(`layout.HTML_MAX_RESULTS`), so lowering one here (as a test does) takes effect everywhere."""

SHEET_NAME = "contact_sheet.jpg"
HTML_NAME = "report.html"
CSV_NAME = "jobs.csv"  # every job of the run, however many
THUMBS_DIR = "thumbs"  # report.html's thumbnails, next to it (cached by path, size and mtime)
THUMB = 160  # contact sheet: content and style cell side, pixels
SHEET_RESULT = 320  # contact sheet: result cell side
SHEET_PAD, SHEET_HEAD, SHEET_BAND = 8, 48, 20  # contact sheet: gaps, column headers, a job's name
SMALL_PX, SMALL_BOX = 240, 180  # report.html: content and style thumbnails, and their display box
LARGE_PX, LARGE_BOX = 640, 440  # report.html: result thumbnails (click one for the file itself)
# Caps that keep a 100,000-job report to seconds and its page to a few MB; jobs.csv lists all.
HTML_MAX_FAILED = 200
HTML_MAX_RESULTS = 200
HTML_MAX_TODO = 100
SHEET_MAX_ROWS = 100  # also keeps the JPEG under its 65,535 px height limit
SHEET_MAX_FAILED = 20
