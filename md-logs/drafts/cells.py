"""Notebook cells for the chapter drafts (make_ch0*.py)."""


def md(cell_id, text, tags=None):
    cell = {"cell_type": "markdown", "id": cell_id, "metadata": {},
            "source": text.strip("\n").splitlines(True)}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def code(cell_id, text, solution=False):
    cell = {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {},
            "outputs": [], "source": text.strip("\n").splitlines(True)}
    if solution:
        cell["metadata"] = {"tags": ["solution", "hide-cell"], "mystnb": {
            "code_prompt_show": "Solution code", "code_prompt_hide": "Hide the solution code"}}
    return cell
