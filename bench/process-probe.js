// Preloaded (`node -r bench/process-probe.js bin/cocoon …`) into each agent process that bench/processes.ts starts:
// answers the bench's IPC message {probe: id} with this process's own CPU time and memory, so the bench measures
// each agent's CPU in the agent itself without any agent code knowing about it. Plain JS: it runs before ts-node.
'use strict';
if (process.send) {
    process.on('message', (m) => {
        if (!m || typeof m !== 'object' || typeof m.probe !== 'number') return;
        const ru = process.resourceUsage();
        process.send({ probe: m.probe, userUs: ru.userCPUTime, systemUs: ru.systemCPUTime, rss: process.memoryUsage().rss, maxRssKb: ru.maxRSS });
    });
    // The IPC channel must not keep the agent alive after SIGTERM.
    if (process.channel && process.channel.unref) process.channel.unref();
}
