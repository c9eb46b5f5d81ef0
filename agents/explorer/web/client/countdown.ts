// Countdowns keep ticking: each `time[data-countdown]` was rendered against the view's chain time
// (main[data-chain-time]); the browser's clock only measures how much time passed since.
import { formatCountdown } from '../format';

export function startCountdowns(): void {
    const main = document.getElementById('main');
    const chainTime = Number(main?.dataset.chainTime);
    const times = Array.from(document.querySelectorAll<HTMLTimeElement>('time[data-countdown]'));
    if (!Number.isFinite(chainTime) || times.length === 0) return;
    const loadedAt = Date.now() / 1000;
    const tick = () => {
        const now = chainTime + (Date.now() / 1000 - loadedAt);
        for (const t of times) {
            const at = Number(t.dataset.value);
            if (Number.isFinite(at)) t.textContent = formatCountdown(at, now);
        }
    };
    setInterval(tick, 1000);
}
