// spec/attestation.md must document every attestation error code once in its table, and keep its sections.
import { readFileSync } from 'fs';
import { join } from 'path';
import { AttestationErrorCodes, INTEL_ROOT_KEY_ID } from '../../../../agents/core/tee/types';
import { MAX_PEM_CHAIN_BYTES, MAX_QUOTE_BYTES } from '../../../../agents/core/tee/quote';

const spec = readFileSync(join(__dirname, '../../../../spec/attestation.md'), 'utf8');

describe('spec/attestation.md', () => {
    it.each([...AttestationErrorCodes])('documents error code %s in the error table', (code) => {
        expect(spec.match(new RegExp(`^\\| \`${code}\` \\|`, 'gm'))).toHaveLength(1);
    });

    it.each(['Quote format', 'Verification steps', 'Policy', 'Image hash', 'Simulated PKI', 'RA-TLS', 'Error codes'])('has the section "## %s"', (h) => {
        expect(spec).toMatch(new RegExp(`^## ${h}$`, 'm'));
    });

    it('states the size caps and the Intel root key id the code uses', () => {
        expect(MAX_QUOTE_BYTES).toBe(64 * 1024);
        expect(spec).toContain('**64 KiB**');
        expect(MAX_PEM_CHAIN_BYTES).toBe(16 * 1024);
        expect(spec).toContain('**16 KiB**');
        expect(spec).toContain(INTEL_ROOT_KEY_ID);
    });
});
