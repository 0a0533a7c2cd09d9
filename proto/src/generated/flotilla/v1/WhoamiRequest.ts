// Original file: flotilla.proto


export interface WhoamiRequest {
}

export interface WhoamiRequest__Output {
}
