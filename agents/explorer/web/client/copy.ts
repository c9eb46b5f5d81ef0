// Copy buttons (rendered hidden: without JavaScript there is nothing to copy with).
export function startCopyButtons(): void {
    if (!navigator.clipboard) return;
    const announce = document.getElementById('announce');
    for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('button.copy[data-copy]'))) {
        button.hidden = false;
        button.addEventListener('click', () => {
            const value = button.dataset.copy ?? '';
            navigator.clipboard.writeText(value).then(
                () => say(announce, button, 'Copied'),
                () => say(announce, button, 'Copy failed'),
            );
        });
    }
}

function say(announce: HTMLElement | null, button: HTMLButtonElement, text: string): void {
    if (announce) announce.textContent = text;
    button.textContent = text;
    setTimeout(() => (button.textContent = 'Copy'), 1500);
}
