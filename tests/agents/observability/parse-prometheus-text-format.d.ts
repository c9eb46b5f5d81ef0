// The parser ships no types: what the observability tests read of its output.
declare module 'parse-prometheus-text-format' {
    export default function parsePrometheusTextFormat(text: string): unknown[];
}
