export declare const ROOT: string;
export declare function pinnedVersion(root?: string): string;
export declare function floorVersion(root?: string): string;
export declare function versionOf(bin: string): string;
export declare function shippedNode(root?: string): string;
export declare function floorNode(root?: string): string;
