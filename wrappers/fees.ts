// The contracts' fee thresholds (contracts/constants.tact: feeTopUp() ... notifyValue()) in TypeScript. On chain
// each is the measured gas of its operation (the generated Gas* constants) converted at the network's current
// prices by getComputeFee/getForwardFee, so it cannot be a generated constant; this file applies the same formula
// to the basechain prices of config params 21 and 25 (mainnet's, which the sandbox and the devnet use).
// tests/contracts/fees.spec.ts checks on the real contracts that each value here is exactly the threshold.
import {
    FeeMarginPct,
    GasClaim,
    GasCommit,
    GasFinish,
    GasNotify,
    GasPayment,
    GasRedeem,
    GasRegister,
    GasSimple,
    GasTopUp,
    MaxEndpointBytes,
    MinStorage,
} from '../build/ClientChannel/ClientChannel_ClientChannel';

/** Basechain gas and message prices (config params 21 and 25); prices per unit are in 1/65536 nanoTON. */
export interface ChainPrices {
    flatGasLimit: bigint;
    flatGasPrice: bigint;
    gasPrice: bigint;
    lumpPrice: bigint;
    bitPrice: bigint;
    cellPrice: bigint;
}

export const BASECHAIN_PRICES: ChainPrices = {
    flatGasLimit: 100n,
    flatGasPrice: 40_000n,
    gasPrice: 26_214_400n,
    lumpPrice: 400_000n,
    bitPrice: 26_214_400n,
    cellPrice: 2_621_440_000n,
};

const ceilShift16 = (x: bigint) => (x + 65535n) >> 16n;

/** TVM's GETGASFEE. */
export function computeFee(gas: bigint, p: ChainPrices = BASECHAIN_PRICES): bigint {
    return gas <= p.flatGasLimit ? p.flatGasPrice : p.flatGasPrice + ceilShift16((gas - p.flatGasLimit) * p.gasPrice);
}

/** TVM's GETFORWARDFEE (cells and bits beyond the root cell). */
export function forwardFee(cells: bigint, bits: bigint, p: ChainPrices = BASECHAIN_PRICES): bigint {
    return p.lumpPrice + ceilShift16(p.bitPrice * bits + p.cellPrice * cells);
}

/** Every fee threshold of the contracts at the given prices. */
export function contractFees(p: ChainPrices = BASECHAIN_PRICES) {
    const gasFee = (gas: bigint) => computeFee((gas * (100n + FeeMarginPct)) / 100n, p);
    const msgFee = forwardFee(0n, 0n, p);
    const notifyValue = gasFee(GasNotify);
    return {
        FeeTopUp: gasFee(GasTopUp),
        FeeRedeem: gasFee(GasRedeem) + msgFee,
        FeePayment: gasFee(GasPayment),
        FeeCommit: gasFee(GasCommit),
        FeeClaim: gasFee(GasClaim) + 2n * msgFee,
        FeeSimple: gasFee(GasSimple) + msgFee + notifyValue,
        FeeRegister: gasFee(GasRegister) + forwardFee(2n, 2n * MaxEndpointBytes * 8n, p) + 2n * msgFee + notifyValue + MinStorage,
        FeeFinish: gasFee(GasFinish) + 3n * msgFee + notifyValue,
        NotifyValue: notifyValue,
    };
}

export const { FeeTopUp, FeeRedeem, FeePayment, FeeCommit, FeeClaim, FeeSimple, FeeRegister, FeeFinish, NotifyValue } = contractFees();
